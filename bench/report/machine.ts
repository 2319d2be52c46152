import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Packages whose versions shape the figures (express and fastify come with the Nest adapters). */
const PACKAGES = [
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/platform-fastify',
  'express',
  'fastify',
  'better-sse',
  'rxjs',
  'tsx',
];

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started: the machine may be shared. */
  loadAverage: number;
  packages: Record<string, string>;
}

function versionOf(name: string): string | undefined {
  const candidates = [
    path.join(ROOT, 'node_modules', name, 'package.json'),
    path.join(ROOT, 'node_modules/@nestjs/platform-express/node_modules', name, 'package.json'),
    path.join(ROOT, 'node_modules/@nestjs/platform-fastify/node_modules', name, 'package.json'),
  ];
  const found = candidates.find((file) => existsSync(file));
  return found ? (JSON.parse(readFileSync(found, 'utf8')) as { version: string }).version : undefined;
}

export function describeMachine(): Machine {
  const own = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  const packages: Record<string, string> = { [own.name]: own.version };
  for (const name of PACKAGES) {
    const version = versionOf(name);
    if (version) packages[name] = version;
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverage: os.loadavg()[0],
    packages,
  };
}
