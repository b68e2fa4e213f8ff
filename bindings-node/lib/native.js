'use strict';
// The addon, loaded through the loader `napi build` generates.
module.exports = require('../index.js');
