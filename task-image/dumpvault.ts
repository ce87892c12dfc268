/** Entry point of the `dumpvault` binary (the CLI locally, the task in the container). */
import { main, processIo } from './cli/main.ts';

// Under Node 20 every AWS SDK client prints a NodeVersionSupportWarning (SDK releases after
// January 2027 need Node 22) on every command that touches AWS or S3. The README says it once;
// this is the SDK's documented opt-out, and a user who sets the variable keeps their choice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

main(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
