// Preload (node --import) that installs hide-aws-sdk-hooks.mjs: the process
// then runs as if @aws-sdk/* were not installed.
import { register } from 'node:module';

register('./hide-aws-sdk-hooks.mjs', import.meta.url);
