/** The schedule module: EventBridge Scheduler's cron and rate dialect, time zones and DST rules. */

export { alarmThresholdHours, neverSucceededSince } from './overdue.ts';
export {
  type CompiledSchedule,
  compileSchedule,
  cronProblem,
  rateProblem,
  type ScheduleGaps,
  type ScheduleSpec,
  scheduleGaps,
  timeZoneProblem,
} from './schedule.ts';
