/** A set of settings that cannot work together (the message names the setting to change). */
export class DeploymentError extends Error {
  override name = 'DeploymentError';
}
