// Stryker ignorer `error-message`: mutants of error message text are not run. The text is for
// people; what callers and tests rely on is the class, `code` and `param`, which stay mutated.
// - the message argument of `new SomeError(...)`: InvalidInputError(param, expectation) and the
//   (code, message) classes carry it second, every other keywarden error first;
// - the `expected` text of a field problem (`{ path, expected }`, util/validate FieldProblem),
//   which only ever becomes such a message (the object is truthy whatever its text).
// Stryker reports these mutants as "Ignored": they are not counted in the score.
const MESSAGE_SECOND = new Set(['InvalidInputError', 'BreakGlassError', 'KmsError', 'NoteError']);

/** @param {any} path a Babel NodePath */
function shouldIgnore(path) {
  const parent = path.parentPath?.node;
  if (path.listKey === 'arguments' && parent?.type === 'NewExpression' && parent.callee.type === 'Identifier' && parent.callee.name.endsWith('Error')) {
    const messageIndex = MESSAGE_SECOND.has(parent.callee.name) ? 1 : 0;
    return path.key === messageIndex ? `error message text of new ${parent.callee.name}(...)` : undefined;
  }
  if (path.key === 'value' && parent?.type === 'ObjectProperty' && parent.key.type === 'Identifier' && parent.key.name === 'expected') {
    const siblings = path.parentPath.parentPath?.node?.properties ?? [];
    if (siblings.some((p) => p.type === 'ObjectProperty' && p.key.type === 'Identifier' && p.key.name === 'path')) return 'error message text of a field problem ({ path, expected })';
  }
  return undefined;
}

export const strykerPlugins = [{ kind: 'Ignore', name: 'error-message', value: { shouldIgnore } }];
