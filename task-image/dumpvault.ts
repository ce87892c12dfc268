/** Entry point of the `dumpvault` binary (the CLI locally, the task in the container). */
import { main, processIo } from './cli/main.ts';

main(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
