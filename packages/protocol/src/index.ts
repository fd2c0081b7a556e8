export * from './errors.js';
export * from './batch-header.js';
