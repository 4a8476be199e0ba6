/**
 * AWS KMS master keys for the `keys` commands: one `KMSClient` per run (region, endpoint;
 * credentials from the AWS SDK's default chain — environment, shared files, SSO, container or
 * instance roles), shared by every KMS key the command uses, so that keys recorded under other
 * KMS keys are reached by their ARN through the same client. `@aws-sdk/client-kms` is an
 * optional peer dependency: it is loaded only when a KMS key is named.
 * @module
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { AwsKmsMasterKey } from '../kms/aws.js';
import { type Args, IncompleteError, type OptionSpec, UsageError } from './spec.js';

/** `--region`, `--kms-endpoint`: where KMS is. */
export const kmsClientOptions: OptionSpec[] = [
  { name: 'region', type: 'string', value: 'REGION', description: "AWS region of KMS (default: the AWS SDK's configuration)", env: ['AWS_REGION', 'AWS_DEFAULT_REGION'] },
  { name: 'kms-endpoint', type: 'string', value: 'URL', description: "KMS endpoint URL instead of the region's (a VPC endpoint)", env: ['KEYWARDEN_KMS_ENDPOINT'] },
];

/** Makes AwsKmsMasterKeys on one lazily created client; `close` destroys the client (its sockets). */
export interface KmsKeys {
  key(keyId: string): Promise<AwsKmsMasterKey>;
  close(): void;
}

/**
 * Checks `--region` and `--kms-endpoint` now (usage errors come before any connection) and
 * returns the factory. Nothing is loaded or connected until the first `key()`.
 */
export function kmsKeys(args: Args): KmsKeys {
  const region = args.string('region');
  const endpoint = args.string('kms-endpoint');
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/.test(region)) throw new UsageError(`${args.label('region')}: expected an AWS region name such as eu-west-1`);
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    // Never echo the value: an endpoint URL may carry credentials.
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new UsageError(`${args.label('kms-endpoint')}: expected an http(s) URL`);
  }
  let client: Promise<{ client: KMSClient; AwsKmsMasterKey: typeof AwsKmsMasterKey }> | undefined;
  const open = async () => {
    let sdk: typeof import('@aws-sdk/client-kms');
    try {
      sdk = await import('@aws-sdk/client-kms');
    } catch {
      throw new IncompleteError("the optional package '@aws-sdk/client-kms' is not installed (npm install @aws-sdk/client-kms)");
    }
    const { AwsKmsMasterKey } = await import('../kms/aws.js');
    const c = new sdk.KMSClient({ ...(region !== undefined && { region }), ...(endpoint !== undefined && { endpoint }) });
    if (region === undefined) {
      // Without --region the SDK's configuration must name one; say which flag is missing
      // rather than letting the first call fail with the SDK's words.
      try {
        await c.config.region();
      } catch {
        c.destroy();
        throw new UsageError('missing AWS region: give --region REGION (or set AWS_REGION or AWS_DEFAULT_REGION)');
      }
    }
    return { client: c, AwsKmsMasterKey };
  };
  return {
    async key(keyId) {
      const c = await (client ??= open());
      return new c.AwsKmsMasterKey({ client: c.client, keyId });
    },
    close() {
      void client?.then((c) => c.client.destroy(), () => undefined);
    },
  };
}
