/** The Azurite harness lives with the other emulators in scripts/emulators/. */
export * from '../../scripts/emulators/azurite.ts';
