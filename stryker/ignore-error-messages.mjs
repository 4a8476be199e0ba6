// Stryker ignorer `error-message`: mutants of error message text are not run. The text is for
// people; what callers and tests rely on is the class, `code` and `param`, which stay mutated.
// - the message argument of `new SomeError(...)`: InvalidInputError(param, expectation) and the
//   (code, message) classes carry it second, every other keywarden error first;
// - the `expected` text of a field problem (`{ path, expected }`, util/validate FieldProblem),
//   which only ever becomes such a message (the object is truthy whatever its text);
// - the `message` of a `{ code, message }` problem, and the second argument of a call whose first
//   is an error code (`add('ERR_BG_…', message)`, `add(r.code, message)` in breakglass/policy.ts).
// Stryker reports these mutants as "Ignored": they are not counted in the score.
const MESSAGE_SECOND = new Set(['InvalidInputError', 'BreakGlassError', 'KmsError', 'NoteError']);

/** An error code: a string literal 'ERR_…', or `something.code`. @param {any} node */
function isErrorCode(node) {
  if (node?.type === 'StringLiteral') return node.value.startsWith('ERR_');
  return node?.type === 'MemberExpression' && node.property.type === 'Identifier' && node.property.name === 'code';
}

/** @param {any} path a Babel NodePath */
function shouldIgnore(path) {
  const parent = path.parentPath?.node;
  if (path.listKey === 'arguments' && parent?.type === 'NewExpression' && parent.callee.type === 'Identifier' && parent.callee.name.endsWith('Error')) {
    const messageIndex = MESSAGE_SECOND.has(parent.callee.name) ? 1 : 0;
    return path.key === messageIndex ? `error message text of new ${parent.callee.name}(...)` : undefined;
  }
  if (path.listKey === 'arguments' && path.key === 1 && parent?.type === 'CallExpression' && isErrorCode(parent.arguments[0])) {
    return 'error message text next to an error code';
  }
  if (path.key === 'value' && parent?.type === 'ObjectProperty' && parent.key.type === 'Identifier') {
    const siblings = path.parentPath.parentPath?.node?.properties ?? [];
    const has = (name) => siblings.some((p) => p.type === 'ObjectProperty' && p.key.type === 'Identifier' && p.key.name === name);
    if (parent.key.name === 'expected' && has('path')) return 'error message text of a field problem ({ path, expected })';
    if (parent.key.name === 'message' && has('code')) return 'error message text of a problem ({ code, message })';
  }
  return undefined;
}

export const strykerPlugins = [{ kind: 'Ignore', name: 'error-message', value: { shouldIgnore } }];
