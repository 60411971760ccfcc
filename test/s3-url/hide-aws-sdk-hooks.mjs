// Module resolution hooks that make every @aws-sdk/* package look missing,
// as in an install without the optional peer dependencies.
export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('@aws-sdk/')) {
    const err = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL ?? '?'}`);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return nextResolve(specifier, context);
}
