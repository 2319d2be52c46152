/** Jest runs in native ESM mode (NestJS 12 ships only ES modules); see package.json "test". */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^nestjs-meridian-stream$': '<rootDir>/lib/index.ts',
    '^nestjs-meridian-stream/typeorm$': '<rootDir>/lib/typeorm/index.ts',
    '^nestjs-meridian-stream/redis$': '<rootDir>/lib/redis/index.ts',
    '^nestjs-meridian-stream/terminus$': '<rootDir>/lib/terminus/index.ts',
    '^nestjs-meridian-stream/prometheus$': '<rootDir>/lib/prometheus/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 30_000,
  globalSetup: '<rootDir>/test/global-setup.ts',
};
