/**
 * Checklist templates, as the rest of shipcheck uses them. Loading (extends, drops, `file:line:col`
 * findings) is in template-loader.ts, checking params against each kind in template-params.ts,
 * `{{vars.NAME}}` placeholders in template-vars.ts, and making a template concrete for one config in
 * template-resolver.ts. The check kinds themselves are listed once, in kinds/index.ts.
 */
export { MANUAL_KIND } from './kinds/manual.js';
export { loadTemplate } from './template-loader.js';
export { configuredIn, resolveItems } from './template-resolver.js';
export {
  DEFAULT_TEMPLATE,
  NO_TEMPLATE,
  type DroppedItem,
  type KindParams,
  type KindParamsMap,
  type LoadTemplateOptions,
  type ResolveConfig,
  type ResolvedItem,
  type Template,
  type TemplateItem,
} from './template-types.js';
export { placeholderNames } from './template-vars.js';
