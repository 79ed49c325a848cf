/**
 * Real certificates made with the system's openssl, for tests of TLS: a CA, and certificates it
 * issues for servers and clients with any validity, including ones that expired long ago.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** What a certificate is for and how long it holds. */
export interface IssueOptions {
  /** Subject alternative names, e.g. `DNS:localhost`, `IP:127.0.0.1`. */
  names: string[];
  /** `server` (serverAuth) or `client` (clientAuth); server by default. */
  use?: 'server' | 'client';
  /** Valid from now for this many days (default 30)... */
  days?: number;
  /** ...or between these dates (`YYYYMMDDHHMMSSZ`), for a certificate that has expired. */
  between?: [string, string];
}

const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const DEFAULT_DAYS = 30;

/** The minimal `openssl ca` setup: no database to speak of, any subject, extensions from -extfile. */
const CA_CONFIG = `[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = issued
serial = serial.txt
default_md = sha256
policy = any_subject
unique_subject = no
[ any_subject ]
commonName = supplied
`;

/** A test CA in its own temp folder; `remove()` deletes the folder and everything issued. */
export class TestCa {
  /** The CA's certificate (PEM): what clients and servers trust. */
  readonly cert: string;
  private readonly key: string;

  private constructor(
    readonly dir: string,
    name: string,
  ) {
    fs.mkdirSync(path.join(dir, 'issued'));
    fs.writeFileSync(path.join(dir, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'serial.txt'), '01\n');
    fs.writeFileSync(path.join(dir, 'ca.cnf'), CA_CONFIG);
    this.cert = path.join(dir, 'ca.pem');
    this.key = path.join(dir, 'ca.key');
    this.openssl([
      'req',
      '-x509',
      ...NEW_EC_KEY,
      '-keyout',
      this.key,
      '-out',
      this.cert,
      '-days',
      String(DEFAULT_DAYS),
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }

  /** A new CA named `name` in a new temp folder. */
  static create(name = 'shipcheck test CA'): TestCa {
    return new TestCa(fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-ca-')), name);
  }

  /** Issues a certificate with a new key, files named after `file` in the CA's folder. */
  issue(file: string, options: IssueOptions): CertFiles {
    const base = path.join(this.dir, file);
    const use = options.use === 'client' ? 'clientAuth' : 'serverAuth';
    fs.writeFileSync(
      `${base}.ext`,
      `subjectAltName=${options.names.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${use}\n`,
    );
    const commonName = (options.names[0] ?? 'test').replace(/^\w+:/, '');
    this.openssl([
      'req',
      '-new',
      ...NEW_EC_KEY,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=${commonName}`,
    ]);
    const validity = options.between
      ? ['-startdate', options.between[0], '-enddate', options.between[1]]
      : ['-days', String(options.days ?? DEFAULT_DAYS)];
    this.openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      'ca.cnf',
      '-cert',
      this.cert,
      '-keyfile',
      this.key,
      '-in',
      `${base}.csr`,
      '-out',
      `${base}.pem`,
      '-extfile',
      `${base}.ext`,
      ...validity,
    ]);
    return { cert: `${base}.pem`, key: `${base}.key` };
  }

  /** A self-signed server certificate that no CA issued. */
  selfSigned(file: string, names: string[]): CertFiles {
    const base = path.join(this.dir, file);
    const commonName = (names[0] ?? 'test').replace(/^\w+:/, '');
    this.openssl([
      'req',
      '-x509',
      ...NEW_EC_KEY,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.pem`,
      '-days',
      String(DEFAULT_DAYS),
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      `subjectAltName=${names.join(',')}`,
    ]);
    return { cert: `${base}.pem`, key: `${base}.key` };
  }

  /** Deletes the CA's folder. */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/** The SHA-256 fingerprint of a PEM certificate file, as Node's `fingerprint256` writes it. */
export function fingerprintOf(certFile: string): string {
  return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}

/** Replaces `target` with `content` the way certificate managers do: a new file renamed over it. */
export function replaceAtomically(target: string, content: string | Buffer): void {
  const next = `${target}.next`;
  fs.writeFileSync(next, content);
  fs.renameSync(next, target);
}
