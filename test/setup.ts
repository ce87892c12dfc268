// Shared test setup: nothing global yet beyond making failures in child processes visible.
process.env.DUMPVAULT_LOG ??= 'silent';
