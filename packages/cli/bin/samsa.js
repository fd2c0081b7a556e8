#!/usr/bin/env node
// Thin launcher so the `samsa` bin exists before the first build; the CLI lives in dist/.
import '../dist/main.js';
