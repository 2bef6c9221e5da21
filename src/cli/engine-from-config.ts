import { SHIPPED_MODELS_DIR, type Config } from '../config/config.ts';
import { Engine } from '../engine/engine.ts';

export function engineFromConfig(config: Config): Engine {
  return new Engine({
    modelDirs: [config.modelsDir, SHIPPED_MODELS_DIR],
    provider: config.executionProvider,
    threads: config.threads,
    optimize: config.optimizeModels,
    log: (m) => process.stderr.write(`darkroom: ${m}\n`),
  });
}
