/**
 * Config settings as CLI flags, so `--data-dir x` and DARKROOM_DATA_DIR=x mean the same. A command
 * takes the flags of the settings it uses and no others: a flag it would ignore is refused as unknown.
 */
import type { Command } from 'commander';
import { flagName, loadConfig, settingEnvNames, type Config } from '../config/config.ts';

/** What one-shot commands read: where the models and the data are, and how models run. */
export const MODEL_SETTINGS = ['DARKROOM_DATA_DIR', 'DARKROOM_MODELS_DIR', 'DARKROOM_DEFAULT_MODEL'] as const;
export const RUNTIME_SETTINGS = ['DARKROOM_EXECUTION_PROVIDER', 'DARKROOM_THREADS', 'DARKROOM_OPTIMIZE_MODELS', 'DARKROOM_FUSIONS', 'DARKROOM_FP16', 'DARKROOM_DEVICE_LOOP'] as const;
export const DATABASE_SETTINGS = ['DARKROOM_DATA_DIR', 'DARKROOM_DATABASE_URL'] as const;

/** Every setting except those named: a long-running role takes all the others. */
export function settingsExcept(...unused: string[]): string[] {
  return settingEnvNames().filter((env) => !unused.includes(env));
}

/** Adds the flags of `settings` (environment-variable names; every setting when omitted). */
export function withConfigFlags(cmd: Command, settings: readonly string[] = settingEnvNames()): Command {
  for (const env of settings) cmd.option(`${flagName(env)} <value>`, `same as ${env}`);
  return cmd;
}

/** commander's camelCase option values → the environment-variable keys loadConfig takes. */
export function configFromFlags(opts: Record<string, unknown>): Config {
  const flags: Record<string, string> = {};
  for (const env of settingEnvNames()) {
    const key = flagName(env)
      .slice(2)
      .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (typeof opts[key] === 'string') flags[env] = opts[key];
  }
  return loadConfig(process.env, flags);
}
