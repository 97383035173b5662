// What the user must fix before anything can run (privileges, the kernel, a pid or file they
// named): the CLI prints its one line and exits 2.
export class EnvironmentError extends Error {}
