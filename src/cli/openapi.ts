/**
 * `darkroom openapi [--out openapi.json] [--types file]`: writes the OpenAPI document generated
 * from the route schemas (what `npm run openapi` commits), and the TypeScript types of the typed
 * client generated from it (openapi-typescript).
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';

export function registerOpenApi(program: Command): void {
  program
    .command('openapi')
    .description('write the OpenAPI document (and the typed client types) generated from the routes')
    .option('--out <file>', 'where to write the document (- for stdout)', '-')
    .option('--types <file>', 'also write openapi-typescript types for the typed client')
    .action(async (opts: { out: string; types?: string }) => {
      const { generatedOpenApi, generatedClientTypes } = await import('../api/generate-openapi.ts');
      const doc = await generatedOpenApi();
      if (opts.out === '-') process.stdout.write(doc);
      else await writeFile(opts.out, doc);
      if (opts.types) await writeFile(opts.types, await generatedClientTypes(doc));
    });
}
