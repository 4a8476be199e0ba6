/** The library's version, recorded in audit entries (`lib`); kept equal to package.json by a test. */
export const VERSION = '0.1.0';
