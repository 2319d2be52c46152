import { stalledReadersSuite } from './memory-cases.js';

// Issue 20, case 2 (stalled catch-up readers hold whole pages), on Fastify: see memory-cases.ts.
stalledReadersSuite('fastify');
