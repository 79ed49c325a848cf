import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTROL_PROTOCOL, type ProxyState } from './control-protocol.js';
import { DEFAULT_PROXY_TIMEOUTS } from './proxy-router.js';
import {
  ensurePrivateDir,
  proxyPaths,
  readProxyState,
  removeProxyState,
  writeProxyState,
} from './proxy-state.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-proxy-state-'));
  dirs.push(dir);
  return dir;
}

describe('proxy state', () => {
  it('names the files of a unit under .shipcheck, with a safe file name', () => {
    const paths = proxyPaths('/srv/app/.shipcheck', 'web@staging');
    expect(paths).toEqual({
      stateFile: '/srv/app/.shipcheck/proxy/web_staging.json',
      socket: '/srv/app/.shipcheck/proxy/web_staging.sock',
      logFile: '/srv/app/.shipcheck/logs/proxy-web_staging.log',
    });
  });

  it('puts a socket whose path would be too long in a private folder under tmp', () => {
    const deep = `/srv/${'deep/'.repeat(30)}.shipcheck`;
    const { socket, stateFile } = proxyPaths(deep, 'web');
    expect(stateFile.startsWith(deep)).toBe(true);
    expect(socket.startsWith(os.tmpdir())).toBe(true);
    expect(Buffer.byteLength(socket)).toBeLessThan(100);
    // Another installation gets another folder
    expect(proxyPaths(`${deep}2`, 'web').socket).not.toBe(socket);
  });

  it('writes the state file 0600 in a 0700 folder, reads it back, and removes only its own', () => {
    const dir = tempDir();
    const { stateFile, socket } = proxyPaths(path.join(dir, '.shipcheck'), 'web');
    fs.mkdirSync(path.dirname(stateFile), { recursive: true, mode: 0o755 });
    const state: ProxyState = {
      protocol: CONTROL_PROTOCOL,
      unit: 'web',
      pid: 4242,
      startTime: '123',
      listen: '127.0.0.1:8080',
      timeouts: DEFAULT_PROXY_TIMEOUTS,
      socket,
      stateFile,
      forceFrom: [],
      forceTokenDigest: '',
      address: '127.0.0.1:8080',
    };
    writeProxyState(state);
    expect(fs.statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(stateFile)).mode & 0o777).toBe(0o700);
    expect(readProxyState(stateFile)).toEqual(state);

    removeProxyState(stateFile, 1);
    expect(fs.existsSync(stateFile)).toBe(true);
    removeProxyState(stateFile, 4242);
    expect(readProxyState(stateFile)).toBeUndefined();
  });

  it('reads a file that is not a state file as none', () => {
    const dir = tempDir();
    const file = path.join(dir, 'web.json');
    fs.writeFileSync(file, '{"pid": "x"');
    expect(readProxyState(file)).toBeUndefined();
    fs.writeFileSync(file, '{"hello": 1}');
    expect(readProxyState(file)).toBeUndefined();
  });

  it('makes a private folder private', () => {
    const dir = path.join(tempDir(), 'proxy');
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    ensurePrivateDir(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });
});
