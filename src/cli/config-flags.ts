/** Every config setting as a CLI flag, so `--data-dir x` and DARKROOM_DATA_DIR=x mean the same. */
import type { Command } from 'commander';
import { flagName, loadConfig, settingEnvNames, type Config } from '../config/config.ts';

export function withConfigFlags(cmd: Command): Command {
  for (const env of settingEnvNames()) cmd.option(`${flagName(env)} <value>`, `same as ${env}`);
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
