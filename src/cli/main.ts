import { Command, CommanderError, Option } from 'commander';
import { ConfigError, InputError, ShipcheckError } from '../errors.js';
import { ApiError } from './client.js';
import { checkKinds } from '../checklist/kinds/index.js';
import { auditArchiveCommand, auditExportCommand, auditVerifyCommand } from './commands/audit.js';
import { backupCommand } from './commands/backup.js';
import {
  checklistExportCommand,
  checklistShowCommand,
  itemCommand,
  signGateCommand,
} from './commands/checklist.js';
import { maintenanceCommand, maintenanceRunCommand } from './commands/maintenance.js';
import { templateShowCommand, templateValidateCommand } from './commands/checklist-template.js';
import { controlCommand } from './commands/control.js';
import { demoCommand } from './commands/demo.js';
import { deployCommand } from './commands/deploy.js';
import { initCommand } from './commands/init.js';
import { registerIncidentCommands } from './commands/incident.js';
import { keysRotateCommand } from './commands/keys.js';
import { mfaConfirmCommand, mfaEnrolCommand } from './commands/mfa.js';
import { reloadCommand } from './commands/reload.js';
import { statusCommand } from './commands/status.js';
import { registerStatuspageCommands } from './commands/statuspage.js';
import {
  oncallOverrideAddCommand,
  oncallOverrideListCommand,
  oncallOverrideRemoveCommand,
  oncallShiftsCommand,
  oncallWhoCommand,
} from './commands/oncall.js';
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from './commands/token.js';
import { registerNotifyCommands } from './commands/notify.js';
import { collect } from './target.js';
import { registerUserContactCommands } from './commands/user-contact.js';
import { upCommand } from './commands/up.js';
import {
  type UserAction,
  userActionCommand,
  userAddCommand,
  userListCommand,
  userResetPasswordCommand,
  userRolesCommand,
} from './commands/user.js';
import { validateCommand } from './commands/validate.js';
import { registerScaleCommands } from './commands/scale.js';
import { docsCommand } from './commands/docs.js';
import { registerBaselineCommands } from './commands/baseline.js';
import { ExitCode } from './format.js';
import { parseTimeout } from './wait.js';
import { DEFAULT_CONFIG, type GlobalOptions, type Io } from './target.js';

function toExitCode(err: unknown, io: Io, debug: boolean): number {
  if (err instanceof CommanderError) {
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
      ? ExitCode.ok
      : ExitCode.usage;
  }
  if (err instanceof ConfigError) {
    err.problems.forEach((p) => io.err(p));
    return ExitCode.usage;
  }
  if (debug && err instanceof Error) io.err(err.stack ?? err.message);
  if (err instanceof InputError) {
    if (!debug) io.err(`error: ${err.message}`);
    return ExitCode.usage;
  }
  if (err instanceof ApiError) {
    if (!debug) io.err(`error: ${err.message}`);
    return err.status === 400 ? ExitCode.usage : ExitCode.runtime;
  }
  if (err instanceof ShipcheckError) {
    if (!debug) io.err(`error: ${err.message}`);
    return ExitCode.runtime;
  }
  if (!debug) io.err(`error: ${(err as Error).message ?? String(err)} (run with --debug for details)`);
  return ExitCode.runtime;
}

let pipeGuarded = false;

/**
 * The process's own stdout and stderr. A reader that goes away (`shipcheck checklist | head -1`)
 * ends the command quietly with status 0, as Unix tools do, instead of an EPIPE stack trace.
 */
function processIo(): Io {
  if (!pipeGuarded) {
    pipeGuarded = true;
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(ExitCode.ok);
        throw err;
      });
    }
  }
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    isTTY: Boolean(process.stdout.isTTY),
  };
}

/** `--wait` and the flags that shape it, as deploy and rollback take them. */
interface WaitFlags {
  wait?: boolean;
  timeout?: number;
  untilHeld?: boolean;
}

/** Adds `--wait`, `--timeout` and `--until-held` to `command`. */
function withWaitOptions(command: Command, waitHelp: string): Command {
  return command
    .option('--wait', waitHelp)
    .addOption(
      new Option(
        '--timeout <duration>',
        'with --wait: stop waiting after this long (500ms, 5s, 5m, 1h) and exit 5; the release goes on',
      ).argParser(parseTimeout),
    )
    .option('--until-held', 'with --wait: return as soon as the release needs a person, and exit 6');
}

/** --timeout and --until-held only mean something while waiting, so either one implies --wait. */
function waitOptionsOf(flags: WaitFlags): {
  wait: boolean;
  timeoutMs?: number;
  untilHeld: boolean;
} {
  const wait = flags.wait === true || flags.timeout !== undefined || flags.untilHeld === true;
  return {
    wait,
    untilHeld: flags.untilHeld ?? false,
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout } : {}),
  };
}

/** Adds `--offline` to a command that can work on the store directly. */
function withOffline(command: Command): Command {
  return command.option(
    '--offline',
    'work on the store the config file names, without the server or a token (needs access to the store)',
  );
}

/** Adds `--login USER` and `--password-stdin` to a command that can sign in with a password. */
function withLogin(command: Command): Command {
  return command
    .option('--login <user>', 'sign in as USER with a password (and --otp) instead of using SHIPCHECK_TOKEN')
    .option('--password-stdin', "with --login: read the password from standard input's first line");
}

/** Runs the CLI with `argv` (as process.argv) and returns the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let code: number = ExitCode.ok;
  const program = new Command('shipcheck')
    .description('Canary rollouts with automated rollback, driven by your production checklist.')
    .addOption(new Option('-c, --config <file>', 'config file').default(DEFAULT_CONFIG))
    .option('--url <url>', 'control plane URL (default: SHIPCHECK_URL, else the config server.listen)')
    .option('-s, --service <name>', 'the service to act on, when the control plane runs several')
    .option('--env <name>', 'the environment to act on, when the service has environments')
    .option('--json', 'print JSON')
    .option(
      '--otp <code>',
      'a TOTP code, for actions of an approver or admin in a protected environment (or SHIPCHECK_OTP)',
    )
    .option('--debug', 'show stack traces and debug logs')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    // Subcommands inherit this, so `shipcheck deploy --help` lists -c, --url and the rest too.
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(run "shipcheck --help" for usage)');

  const globals = (): GlobalOptions => ({
    ...program.opts<GlobalOptions>(),
    configGiven: program.getOptionValueSource('config') === 'cli',
  });
  const run =
    <A extends unknown[]>(action: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      code = await action(...args);
    };

  program
    .command('init')
    .description('write a commented starter shipcheck.yaml')
    .option('--force', 'overwrite an existing file')
    .action(
      run(async (o: { force?: boolean }) =>
        initCommand({ config: globals().config, force: o.force ?? false }, io),
      ),
    );
  program
    .command('validate')
    .description('check a config file')
    .action(run(async () => validateCommand({ config: globals().config }, io)));
  program
    .command('up')
    .description('run the control plane in the foreground: reconciler, fleet, proxy and API')
    .action(run(async () => upCommand(globals(), io)));
  withWaitOptions(
    program
      .command('deploy <version>')
      .description('start a release of <version>')
      .option(
        '--idempotency-key <key>',
        'run again with the same key, get the release the first run started (e.g. the CI job id)',
      ),
    'show progress until the release ends; the exit code tells how it ended',
  ).action(
    run(async (version: string, o: WaitFlags & { idempotencyKey?: string }) =>
      deployCommand(version, { ...globals(), ...waitOptionsOf(o), idempotencyKey: o.idempotencyKey }, io),
    ),
  );
  program
    .command('reload')
    .description('make the running control plane read its files again: add, change and remove services')
    .action(run(async () => reloadCommand(globals(), io)));
  program
    .command('status')
    .description('the stable version and the active (or last) release')
    .action(run(async () => statusCommand(globals(), io)));
  program
    .command('promote')
    .description('move the active release to its next step')
    .option('--full', 'go straight to 100%')
    .action(
      run(async (o: { full?: boolean }) =>
        controlCommand('promote', globals(), io, { full: o.full ?? false }),
      ),
    );
  for (const [name, description] of [
    ['pause', 'hold the active release at its current step'],
    ['resume', 'continue a paused release'],
    ['abort', 'roll the active release back now'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .action(run(async () => controlCommand(name, globals(), io)));
  }
  withWaitOptions(
    program
      .command('rollback')
      .description('go back to the previous version after a success (itself a release)'),
    'wait for the rollback release to end',
  ).action(run(async (o: WaitFlags) => controlCommand('rollback', globals(), io, waitOptionsOf(o))));
  program
    .command('checklist [action] [item]')
    .description(
      'the release checklist; actions: rerun ITEM, run ITEM (scheduled), export, template show|validate',
    )
    .option('--release <id>', 'a release other than the active (or last) one')
    .option('--format <format>', 'for export: md or html', 'md')
    .option('--out <file>', 'for export: write the report to this file instead of standard output')
    .option('--template <ref>', 'for template show|validate: default, none or a path')
    .action(
      run(
        async (
          action: string | undefined,
          item: string | undefined,
          o: { release?: string; format?: string; out?: string; template?: string },
        ) => {
          if (action === undefined) return checklistShowCommand({ ...globals(), ...o }, io);
          if (action === 'rerun' && item) return itemCommand('rerun', item, globals(), io);
          if (action === 'run' && item) return maintenanceRunCommand(item, globals(), io);
          if (action === 'export') return checklistExportCommand({ ...globals(), ...o }, io);
          if (action === 'template' && (item === 'show' || item === 'validate')) {
            const command = item === 'show' ? templateShowCommand : templateValidateCommand;
            const templateOpts = {
              config: globals().config,
              ...(globals().service ? { service: globals().service } : {}),
              json: globals().json ?? false,
              ...(o.template ? { template: o.template } : {}),
            };
            return command(templateOpts, io, checkKinds());
          }
          throw new InputError(
            `unknown checklist action "${[action, item].filter(Boolean).join(' ')}"; use checklist, checklist rerun ITEM, checklist run ITEM, checklist export, or checklist template show|validate`,
          );
        },
      ),
    );
  program
    .command('sign [item]')
    .description('sign a manual checklist item at the current gate, or all of them with --gate')
    .option('--gate', 'sign every manual item left at the current gate, with one note')
    .option('--note <text>', 'a note kept with the sign-off')
    .action(
      run(async (item: string | undefined, o: { gate?: boolean; note?: string }) => {
        if (o.gate && item !== undefined)
          throw new InputError(`sign ${item} --gate: give an item or --gate, not both`);
        if (o.gate) return signGateCommand({ ...globals(), ...o }, io);
        if (item === undefined)
          throw new InputError('sign: name the item (shipcheck sign ITEM), or pass --gate to sign them all');
        return itemCommand('sign', item, { ...globals(), ...o }, io);
      }),
    );
  program
    .command('waive <item>')
    .description('waive a checklist item; the reason is kept as evidence')
    .requiredOption('--reason <text>', 'why the item is waived')
    .action(
      run(async (item: string, o: { reason: string }) =>
        itemCommand('waive', item, { ...globals(), ...o }, io),
      ),
    );
  program
    .command('backup')
    .description('make a backup now, as the config backup block says (runs locally, not through the API)')
    .action(run(async () => backupCommand(globals(), io)));
  const user = program
    .command('user')
    .description('people who sign in: add, list, disable, enable, unlock, reset-password, reset-mfa, roles');
  withOffline(
    user
      .command('add <name>')
      .description('add a user with a password (--admin --offline makes the first admin)')
      .option('--email <email>', 'their email address')
      .option(
        '--role <role>',
        'a role: viewer, deployer, approver or admin, optionally @ENVIRONMENT; repeatable',
        collect,
        [],
      )
      .option('--group <group>', 'a group (team) checklist items name; repeatable', collect, [])
      .option('--admin', 'shorthand for --role admin')
      .option('--password-stdin', "read the password from standard input's first line instead of asking"),
  ).action(
    run(
      async (
        name: string,
        o: {
          email?: string;
          role: string[];
          group: string[];
          admin?: boolean;
          passwordStdin?: boolean;
          offline?: boolean;
        },
      ) => userAddCommand(name, { ...globals(), ...o, roles: o.role, groups: o.group }, io),
    ),
  );
  withOffline(
    user.command('list').description('every user with roles, groups, MFA, state and source'),
  ).action(run(async (o: { offline?: boolean }) => userListCommand({ ...globals(), ...o }, io)));
  for (const [action, description] of [
    ['disable', "refuse the user's logins and tokens, and end their sessions"],
    ['enable', 'let a disabled user in again (also clears a lockout)'],
    ['unlock', 'end a lockout after failed logins'],
    ['reset-mfa', "remove the user's TOTP and recovery codes (a lost device)"],
  ] as const satisfies readonly (readonly [UserAction, string])[]) {
    withOffline(user.command(`${action} <name>`).description(description)).action(
      run(async (name: string, o: { offline?: boolean }) =>
        userActionCommand(action, name, { ...globals(), ...o }, io),
      ),
    );
  }
  withOffline(
    user
      .command('reset-password <name>')
      .description("set a new password; the user's sessions end")
      .option('--password-stdin', "read the password from standard input's first line instead of asking"),
  ).action(
    run(async (name: string, o: { passwordStdin?: boolean; offline?: boolean }) =>
      userResetPasswordCommand(name, { ...globals(), ...o }, io),
    ),
  );
  withOffline(
    user
      .command('roles <name>')
      .description("replace the user's roles, and groups when --group is given")
      .option('--role <role>', 'a role, optionally @ENVIRONMENT; repeatable', collect, [])
      .option('--group <group>', 'a group; repeatable', collect, [])
      .option('--admin', 'shorthand for --role admin'),
  ).action(
    run(async (name: string, o: { role: string[]; group: string[]; admin?: boolean; offline?: boolean }) =>
      userRolesCommand(name, { ...globals(), ...o, roles: o.role, groups: o.group }, io),
    ),
  );

  registerUserContactCommands(user, { io, globals, run, withLogin });
  registerNotifyCommands(program, { io, globals, run, withLogin });

  const token = program.command('token').description('API tokens for scripts and CI: create, list, revoke');
  withLogin(
    token
      .command('create')
      .description('create a token and print it, once, alone on standard output')
      .requiredOption('--name <name>', 'what the token is for, e.g. ci')
      .option('--role <role>', "its role, optionally @ENVIRONMENT (default: the creator's highest)")
      .option('--expires <lifetime>', 'its lifetime in hours or days: 12h, 30d (default 90d, at most 366d)'),
  ).action(
    run(
      async (o: { name: string; role?: string; expires?: string; login?: string; passwordStdin?: boolean }) =>
        tokenCreateCommand({ ...globals(), ...o }, io),
    ),
  );
  withLogin(
    token
      .command('list')
      .description("your tokens, or everyone's with --all")
      .option('--all', "every user's tokens (admins)"),
  ).action(
    run(async (o: { all?: boolean; login?: string; passwordStdin?: boolean }) =>
      tokenListCommand({ ...globals(), ...o }, io),
    ),
  );
  withLogin(token.command('revoke <id>').description('revoke a token by the ID "token list" shows')).action(
    run(async (id: string, o: { login?: string; passwordStdin?: boolean }) =>
      tokenRevokeCommand(id, { ...globals(), ...o }, io),
    ),
  );

  registerStatuspageCommands(program, { io, globals, run, withLogin });
  program
    .command('maintenance')
    .description('scheduled checklist items: schedule, last result, next run (-s, --env to narrow)')
    .action(run(async () => maintenanceCommand(globals(), io)));
  const oncall = program.command('oncall').description('on-call: who is on call, shifts, overrides');
  oncall
    .command('who')
    .description('who each schedule has on call, and whom each escalation step reaches')
    .option('--at <time>', 'ISO time, now, or relative: +2h, -1d (default now)')
    .option('--schedule <name>', 'one schedule only')
    .action(
      run(async (o: { at?: string; schedule?: string }) => oncallWhoCommand({ ...globals(), ...o }, io)),
    );
  oncall
    .command('shifts <schedule>')
    .description("a schedule's shifts, by local day (at most 90 days)")
    .option(
      '--from <time>',
      'ISO time (local to the schedule unless it has an offset), now, or +2h (default now)',
    )
    .option('--to <time>', 'likewise (default 14 days after --from)')
    .action(
      run(async (schedule: string, o: { from?: string; to?: string }) =>
        oncallShiftsCommand(schedule, { ...globals(), ...o }, io),
      ),
    );
  const override = oncall.command('override').description('on-call overrides: add, list, remove');
  override
    .command('add <schedule> <user>')
    .description('put USER on call for SCHEDULE instead of its layers, for a while')
    .requiredOption('--from <time>', 'ISO time (local to the schedule unless it has an offset), now, or +2h')
    .requiredOption('--to <time>', 'likewise')
    .option('--reason <text>', 'why, for the record')
    .action(
      run(async (schedule: string, user: string, o: { from: string; to: string; reason?: string }) =>
        oncallOverrideAddCommand(schedule, user, { ...globals(), ...o }, io),
      ),
    );
  override
    .command('list <schedule>')
    .description("the schedule's overrides from now on, stored and configured")
    .action(run(async (schedule: string) => oncallOverrideListCommand(schedule, globals(), io)));
  override
    .command('remove <id>')
    .description('remove an override by the ID "override list" shows')
    .action(run(async (id: string) => oncallOverrideRemoveCommand(id, globals(), io)));

  const mfa = program.command('mfa').description('your TOTP second factor: enrol, confirm');
  withLogin(
    mfa
      .command('enrol')
      .description('start TOTP: print the URI and a QR code, then confirm with a code from the app')
      .option('--code <code>', 'a code from the app, to confirm at once'),
  ).action(
    run(async (o: { code?: string; login?: string; passwordStdin?: boolean }) =>
      mfaEnrolCommand({ ...globals(), ...o }, io),
    ),
  );
  withLogin(
    mfa
      .command('confirm <code>')
      .description('put TOTP in force with a code from the app; prints the recovery codes once'),
  ).action(
    run(async (code: string, o: { login?: string; passwordStdin?: boolean }) =>
      mfaConfirmCommand(code, { ...globals(), ...o }, io),
    ),
  );

  registerIncidentCommands(program, globals, io, run);

  const audit = program.command('audit').description('the audit log: verify its hash chain, export it');
  withOffline(
    audit
      .command('verify')
      .description('check the hash chain: exit 0 when intact, 1 naming the first bad entry')
      .option('--file <file>', 'check a file "audit export" wrote instead of the log')
      .option(
        '--anchor <seq:hash>',
        'also check that the log still holds this entry with this hash (from a release report)',
      ),
  ).action(
    run(async (o: { file?: string; offline?: boolean; anchor?: string }) =>
      auditVerifyCommand({ ...globals(), ...o }, io),
    ),
  );
  withOffline(
    audit
      .command('archive')
      .description(
        'retention: move the entries older than --before to a file, after checking it continues the chain',
      )
      .requiredOption('--before <time>', 'archive the entries before this ISO time or epoch ms')
      .requiredOption('--out <file>', 'the archive file to write (JSON lines, mode 0600; must not exist)'),
  ).action(
    run(async (o: { before: string; out: string; offline?: boolean }) =>
      auditArchiveCommand({ ...globals(), ...o }, io),
    ),
  );
  withOffline(
    audit
      .command('export')
      .description('write the entries as JSON lines, oldest first (-s SERVICE filters by service)')
      .option('--out <file>', 'write to FILE instead of standard output')
      .option('--since <time>', 'entries at or after this ISO time or epoch ms')
      .option('--until <time>', 'entries before this ISO time or epoch ms')
      .option('--actor <actor>', 'only entries of this actor')
      .option('--action <action>', 'only entries of this action, e.g. release.deploy'),
  ).action(
    run(
      async (o: {
        out?: string;
        since?: string;
        until?: string;
        actor?: string;
        action?: string;
        offline?: boolean;
      }) => auditExportCommand({ ...globals(), ...o }, io),
    ),
  );

  const keys = program.command('keys').description('the master key that seals secrets at rest');
  keys
    .command('rotate')
    .description('add a new master key and re-seal every TOTP secret with it (works on the store directly)')
    .action(run(async () => keysRotateCommand(globals(), io)));

  registerBaselineCommands(program, { io, globals, run, withLogin });

  program
    .command('demo')
    .description('run the whole story on a sample app in a temporary folder')
    .option('--keep', 'keep the temporary folder')
    .option('--no-pause', 'at a terminal, do not wait for Enter before and after the releases')
    .action(
      run(async (o: { keep?: boolean; pause: boolean }) =>
        demoCommand({ ...globals(), keep: o.keep ?? false, pause: o.pause }, io),
      ),
    );

  registerScaleCommands(program, { io, globals, run, withLogin });
  program
    .command('docs')
    .description('write the service catalog: diagrams (Mermaid, SVG) and a page per service, from the config')
    .option('--out <dir>', 'the folder (default: catalog.docsDir, else docs/catalog beside the config)')
    .action(run(async (o: { out?: string }) => docsCommand({ ...globals(), ...o }, io)));

  try {
    await program.parseAsync(argv);
  } catch (err) {
    return toExitCode(err, io, Boolean(program.opts<GlobalOptions>().debug));
  }
  return code;
}
