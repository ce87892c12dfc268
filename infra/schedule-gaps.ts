/**
 * How often a job's schedule fires, worked out at synth: the longest gap sets the default
 * `HoursSinceLastSuccess` alarm threshold, the shortest bounds how soon retention may delete a
 * backup (checked against Object Lock). The measuring is core/schedule's, the same model
 * `validate` and `serve` use (time zone and DST included, L, W, # and years too).
 */
export { type ScheduleGaps, scheduleGaps } from '../core/schedule/index.ts';
