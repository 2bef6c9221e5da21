/**
 * The object store the configuration names: an S3 bucket when DARKROOM_S3_BUCKET is set, else the local
 * disk. The AWS SDK loads only for S3: the local disk's start-up never pays its import.
 */
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { FilesystemStore } from './filesystem.ts';
import type { ObjectStore } from './object-store.ts';

export type S3Settings = Pick<Config, 's3Bucket' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle' | 's3PublicUrl'>;

/**
 * S3Store for `config.s3Bucket`, else a FilesystemStore under `<dataDir>/images` (dataDir defaults
 * to config.dataDir). Nothing is contacted here; `store.check()` does that.
 */
export async function openStore(config: S3Settings & Pick<Config, 'dataDir'>, dataDir: string = config.dataDir): Promise<ObjectStore> {
  if (config.s3Bucket) {
    const { S3Store } = await import('./s3.ts');
    return new S3Store({
      bucket: config.s3Bucket,
      ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
      ...(config.s3Region ? { region: config.s3Region } : {}),
      forcePathStyle: config.s3ForcePathStyle,
      ...(config.s3PublicUrl ? { publicUrl: config.s3PublicUrl } : {}),
    });
  }
  return new FilesystemStore(join(dataDir, 'images'));
}
