/** The s3rver harness lives with the other emulators in scripts/emulators/ (the bench uses it too). */
export * from '../../scripts/emulators/s3rver.ts';
