/**
 * The Azure destination on Azurite (Microsoft's emulator, started here on a free loopback
 * port): the shared destination suite, then what is Azure's own — blocks staged as the body
 * flows and committed only at its end, a failed write leaving neither a blob nor uncommitted
 * blocks, bounded memory, and errors that name what to fix without the credentials.
 */
import { PassThrough, Readable } from 'node:stream';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StorageError } from '../../../core/errors.ts';
import { clearSecrets } from '../../../core/redact.ts';
import { AzureDestination, type AzureDestinationOptions } from '../../../core/storage/azure.ts';
import { createAzureContainerClient } from '../../../core/storage/azure-client.ts';
import { createDestination } from '../../../core/storage/index.ts';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  type AzuriteHandle,
  startAzurite,
} from '../../support/azurite.ts';
import { describeDestination, digest, feed, MiB, randomBody } from '../../support/destination-suite.ts';

let az: AzuriteHandle;
let containers = 0;

beforeAll(async () => {
  az = await startAzurite();
}, 120_000);
afterAll(async () => {
  await az?.stop();
  clearSecrets();
});

async function freshContainer(): Promise<string> {
  return az.createContainer(`box-${++containers}`);
}

function azureDestination(
  container: string,
  options: Partial<AzureDestinationOptions> = {},
): AzureDestination {
  return new AzureDestination({
    name: 'offsite',
    container: createAzureContainerClient({
      name: 'offsite',
      container,
      credentials: { connectionString: az.connectionString },
    }),
    blockSizeBytes: 5 * MiB,
    queueSize: 2,
    ...options,
  });
}

describeDestination('AzureDestination on Azurite', async () => {
  const container = await freshContainer();
  return {
    destination: azureDestination(container),
    leftovers: () => az.uncommittedBlobs(container),
    dispose: async () => {},
  };
});

describeDestination(
  'AzureDestination from createDestination (account key, root prefix, retry wrapper)',
  async () => {
    const container = await freshContainer();
    const destination = createDestination(
      'offsite',
      {
        type: 'azure',
        account: AZURITE_ACCOUNT,
        accountUrl: az.accountUrl,
        container,
        prefix: 'dumpvault',
        accountKeyEnv: 'UNUSED_HERE',
        blockSizeMiB: 5,
        queueSize: 2,
      },
      { baseDir: '/', azureCredentials: { accountKey: AZURITE_ACCOUNT_KEY } },
    );
    return {
      destination,
      leftovers: async () => [
        ...(await az.uncommittedBlobs(container)),
        // Nothing may be written outside the root prefix either.
        ...(await az.blobs(container)).filter((name) => !name.startsWith('dumpvault/')),
      ],
      dispose: async () => {},
    };
  },
);

describeDestination(
  'AzureDestination from createDestination with an account SAS token (sasTokenEnv)',
  async () => {
    // Bug caught (possible): the SAS branch of the client, never run before against Azurite.
    const container = await freshContainer();
    const sasToken = generateAccountSASQueryParameters(
      {
        permissions: AccountSASPermissions.parse('rwdlac'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY),
    ).toString();
    const destination = createDestination(
      'offsite',
      {
        type: 'azure',
        accountUrl: az.accountUrl,
        container,
        prefix: '',
        sasTokenEnv: 'UNUSED_HERE',
        blockSizeMiB: 5,
        queueSize: 2,
      },
      { baseDir: '/', azureCredentials: { sasToken: `?${sasToken}` } },
    );
    return { destination, leftovers: () => az.uncommittedBlobs(container), dispose: async () => {} };
  },
);

describe('AzureDestination writes', () => {
  it('stages blocks while the body flows and makes the blob visible only at the commit (an unfinished write is invisible)', async () => {
    const container = await freshContainer();
    const dest = azureDestination(container, { blockSizeBytes: MiB });
    const body = new PassThrough();
    const writing = dest.write('job/streamed.dump', body);

    await feed(body, 4 * MiB);
    // Blocks are on the store before the body ended (streamed, not buffered whole) ...
    await expect
      .poll(() => az.uncommittedBlobs(container), { timeout: 60_000 })
      .toEqual([`job/streamed.dump`]);
    // ... and nobody sees a blob yet.
    await expect(dest.stat('job/streamed.dump')).rejects.toBeInstanceOf(NotFoundError);
    expect(await dest.list('')).toEqual([]);
    body.end();

    await expect(writing).resolves.toMatchObject({ bytes: 4 * MiB });
    expect((await dest.stat('job/streamed.dump')).size).toBe(4 * MiB);
    expect(await az.uncommittedBlobs(container)).toEqual([]);
  });

  it('holds at most queueSize + 1 block buffers however big the body is (bounded memory)', async () => {
    const container = await freshContainer();
    const dest = azureDestination(container, { blockSizeBytes: MiB, queueSize: 2 });
    const allocations: number[] = [];
    const original = Buffer.allocUnsafeSlow;
    Buffer.allocUnsafeSlow = (size: number) => {
      if (size === MiB) allocations.push(size);
      return original(size);
    };
    try {
      const { body, sha256 } = randomBody(20 * MiB);
      await dest.write('job/big', body);
      expect(await digest(await dest.read('job/big'))).toEqual({ sha256: sha256(), bytes: 20 * MiB });
    } finally {
      Buffer.allocUnsafeSlow = original;
    }
    expect(allocations.length).toBeLessThanOrEqual(3);
  });

  it('leaves no blob and no uncommitted blocks when the body fails after blocks were staged', async () => {
    const container = await freshContainer();
    const dest = azureDestination(container, { blockSizeBytes: MiB });
    const boom = new Error('pg_dump exited with code 1');
    async function* dying() {
      for (let i = 0; i < 6; i++) yield Buffer.alloc(MiB, i);
      // Only once the store holds blocks of the name does the dump die.
      await expect.poll(() => az.uncommittedBlobs(container), { timeout: 60_000 }).toEqual(['job/dying']);
      throw boom;
    }

    await expect(dest.write('job/dying', Readable.from(dying()))).rejects.toBe(boom);

    expect(await az.blobs(container)).toEqual([]);
    expect(await az.uncommittedBlobs(container)).toEqual([]);
  });

  it('keeps the committed blob a failed write of the same name was to replace', async () => {
    const container = await freshContainer();
    const dest = azureDestination(container, { blockSizeBytes: MiB });
    await dest.put('job/kept', 'the old version');
    const boom = new Error('dump failed');
    async function* dying() {
      for (let i = 0; i < 3; i++) yield Buffer.alloc(MiB, i);
      throw boom;
    }

    await expect(dest.write('job/kept', Readable.from(dying()))).rejects.toBe(boom);

    const text = Buffer.concat(await (await dest.read('job/kept')).toArray()).toString('utf8');
    expect(text).toBe('the old version');
  });
});

describe('AzureDestination errors', () => {
  it('names a missing container and how to create it, permanently, in check', async () => {
    const dest = azureDestination('no-such-container');

    const checking = dest.checkWritable('job/');

    await expect(checking).rejects.toSatisfy((err: unknown) => err instanceof StorageError && err.permanent);
    await expect(checking).rejects.toThrow(
      /^container no-such-container does not exist in storage account devstoreaccount1 \(404 ContainerNotFound\): create it \(az storage container create --name no-such-container\) or fix destinations\.offsite\.container$/,
    );
  });

  it('says a wrong account key is refused in one sentence that does not contain the key', async () => {
    const container = await freshContainer();
    const wrongKey = Buffer.from(
      'not the key of this account, 64 bytes long.......................',
    ).toString('base64');
    const dest = new AzureDestination({
      name: 'offsite',
      container: createAzureContainerClient({
        name: 'offsite',
        account: AZURITE_ACCOUNT,
        accountUrl: az.accountUrl,
        container,
        credentials: { accountKey: wrongKey },
        maxTries: 1,
      }),
    });

    const error = await dest.checkWritable('').then(
      () => new Error('check succeeded'),
      (err: unknown) => err as Error,
    );

    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).permanent).toBe(true);
    expect(error.message).toMatch(
      /^storage account devstoreaccount1 refused the credentials of destinations\.offsite \(403 AuthorizationFailure\): the account key, SAS token or connection string is wrong, expired or not allowed here; fix destinations\.offsite \(connectionStringEnv, accountKeyEnv, sasTokenEnv or credentialsSecret\)$/,
    );
    expect(error.message).not.toContain(wrongKey);
  });
});
