import { bigEventsSuite } from './memory-cases.js';

// Issue 20, case 1 (dropped events stay in memory), on Fastify: see memory-cases.ts.
bigEventsSuite('fastify');
