'use strict';
// Errors raised by the JS layer share the addon's convention: an Error with
// a stable `code` string (WSPROTO_LOCAL_* for misuse, WSPROTO_REMOTE_* for a
// peer that broke the protocol), so callers never parse messages.

/**
 * Builds an Error with a code and optional extra fields.
 * @param {string} code
 * @param {string} message
 * @param {object} [extra]
 */
function wsprotoError(code, message, extra) {
  const err = new Error(message);
  err.code = code;
  if (extra) Object.assign(err, extra);
  return err;
}

/** The error a protocol failure reported by the engine turns into. */
function fromErrorInfo(info) {
  return wsprotoError(info.code, info.message, {
    closeCode: info.closeCode ?? null,
    httpStatus: info.httpStatus ?? null,
  });
}

function invalidArgument(message) {
  return wsprotoError('WSPROTO_LOCAL_INVALID_ARGUMENT', message);
}

module.exports = { wsprotoError, fromErrorInfo, invalidArgument };
