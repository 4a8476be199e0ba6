/**
 * `keywarden/dynamodb`: the key store on Amazon DynamoDB (docs/KEYS.md §10).
 * `@aws-sdk/client-dynamodb` is an optional peer dependency: install it to use this entry point.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * import { DynamoDbKeyStore } from 'keywarden/dynamodb';
 * const keyStore = new DynamoDbKeyStore(new DynamoDBClient({}), { table: 'keywarden-keys' });
 * ```
 * @module
 */
export { DynamoDbKeyStore, type DynamoDbKeyStoreOptions } from './store/dynamodb/store.js';
