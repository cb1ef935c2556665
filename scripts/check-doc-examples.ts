/**
 * `npm run check:docs`: proves that every export carries TSDoc with a
 * compiling example (STYLE.md, habit 5).
 *
 * 1. Every export of the public entry points must have a TSDoc summary;
 *    functions, classes, consts and enums also need an `@example` holding a
 *    ```ts fenced block. Exports are resolved to their declarations with the
 *    compiler API, so re-exports and renames are followed.
 * 2. Every ```ts block in a TSDoc comment under src/ and in README.md is written as its own
 *    module to a temporary directory and all of them are type-checked in one
 *    program, with `tidemark` and its subpaths mapped to the sources.
 *    Snippets are checked as they are, never wrapped: one without an import
 *    would be a global script, so it fails.
 *
 * Prints one summary line on success; on failure, every problem with its
 * source file and line, then exits 1. `--keep` leaves the temporary
 * directory in place (its tsconfig.json reproduces the check with `tsc -p`).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRIES = [
  { pkg: 'tidemark', file: join(root, 'src/index.ts') },
  { pkg: 'tidemark/testing', file: join(root, 'src/testing/index.ts') },
  { pkg: 'tidemark/browser', file: join(root, 'src/browser/index.ts') },
  { pkg: 'tidemark/worker', file: join(root, 'src/worker/index.ts') },
  { pkg: 'tidemark/protocol', file: join(root, 'src/protocol/index.ts') },
  { pkg: 'tidemark/server', file: join(root, 'src/server/index.ts') },
  { pkg: 'tidemark/edge', file: join(root, 'src/edge/index.ts') },
] as const;

const rel = (file: string) => relative(root, file);
const problems: string[] = [];

// The project's compiler options, so that src/ type-checks as it does in `npm run typecheck`.
function projectOptions(): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  return ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, configPath).options;
}

// ---------------------------------------------------------------------------
// 1. Every export is documented

const VALUE_KINDS = new Set([
  ts.SyntaxKind.FunctionDeclaration,
  ts.SyntaxKind.ClassDeclaration,
  ts.SyntaxKind.VariableDeclaration,
  ts.SyntaxKind.EnumDeclaration,
]);

function hasTsFence(text: string): boolean {
  return /```(ts|typescript)[ \t]*(\r?\n|$)/.test(text);
}

function checkExports(): number {
  const program = ts.createProgram(
    ENTRIES.map((e) => e.file),
    { ...projectOptions(), noEmit: true },
  );
  const checker = program.getTypeChecker();
  let documented = 0;
  for (const entry of ENTRIES) {
    const source = program.getSourceFile(entry.file);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) {
      problems.push(`${rel(entry.file)}: cannot read the exports of ${entry.pkg}`);
      continue;
    }
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const name = `${entry.pkg}: ${exported.name}`;
      const decls = symbol.declarations ?? [];
      const decl = decls[0];
      if (!decl) {
        problems.push(`${name}: cannot resolve its declaration`);
        continue;
      }
      const where = `${rel(decl.getSourceFile().fileName)}:${lineOf(decl)}`;
      const needsExample = decls.some((d) => VALUE_KINDS.has(d.kind));
      const summary = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
      const tags = symbol.getJsDocTags(checker);
      const missing: string[] = [];
      if (!summary) missing.push('a TSDoc summary');
      if (tags.some((t) => t.name === 'internal')) missing.push('no @internal tag (it is public)');
      if (needsExample) {
        const examples = tags.filter((t) => t.name === 'example');
        if (!examples.some((t) => hasTsFence(ts.displayPartsToString(t.text))))
          missing.push(
            examples.length ? 'a ```ts fenced block in its @example' : 'an @example with a ```ts fenced block',
          );
      }
      if (missing.length) problems.push(`${where}: export ${name} needs ${missing.join(' and ')}`);
      else documented++;
    }
  }
  return documented;
}

function lineOf(node: ts.Node): number {
  const sf = node.getSourceFile();
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

// ---------------------------------------------------------------------------
// 2. Every example compiles

interface Example {
  /** Source file, relative to the root. */
  readonly file: string;
  /** 1-based source line of each example line, and the width of the stripped ` * ` prefix. */
  readonly lines: readonly { line: number; indent: number }[];
  readonly code: string;
  /** Name of the module file it is written to. */
  module: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Every `/** … *\/` comment of a file, found through the parser so that
 * strings and regular expressions are never mistaken for comments.
 */
function docComments(sf: ts.SourceFile): ts.CommentRange[] {
  const text = sf.getFullText();
  const found = new Map<number, ts.CommentRange>();
  const visit = (node: ts.Node) => {
    for (const c of ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [])
      if (text.startsWith('/**', c.pos) && !text.startsWith('/**/', c.pos)) found.set(c.pos, c);
    node.getChildren(sf).forEach(visit);
  };
  visit(sf);
  return [...found.values()].sort((a, b) => a.pos - b.pos);
}

/** One source line as an example sees it: its text without the comment prefix. */
interface SourceLine {
  readonly content: string;
  readonly line: number;
  readonly indent: number;
}

/** The ```ts fenced blocks among `lines`; `false` when a block is left open. */
function fences(file: string, lines: readonly SourceLine[]): Example[] | false {
  const examples: Example[] = [];
  let open: SourceLine[] | undefined;
  for (const l of lines) {
    if (!open) {
      if (/^```(ts|typescript)\s*$/.test(l.content)) open = [];
    } else if (/^```\s*$/.test(l.content)) {
      const code = `${open.map((o) => o.content).join('\n')}\n`;
      examples.push({ file: rel(file), lines: open.map(({ line, indent }) => ({ line, indent })), code, module: '' });
      open = undefined;
    } else {
      open.push(l);
    }
  }
  return open ? false : examples;
}

function extractExamples(file: string): Example[] {
  const text = ts.sys.readFile(file) ?? '';
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  return docComments(sf).flatMap((comment) => {
    const firstLine = sf.getLineAndCharacterOfPosition(comment.pos).line + 1;
    const lines = text
      .slice(comment.pos, comment.end)
      .split(/\r?\n/)
      .map((raw, i) => {
        const prefix = /^\s*(\/\*\*|\*\/|\*(?!\/))? ?/.exec(raw)?.[0] ?? '';
        const content = raw.slice(prefix.length).replace(/\s*\*\/\s*$/, '');
        return { content, line: firstLine + i, indent: prefix.length };
      });
    const found = fences(file, lines);
    if (found) return found;
    problems.push(`${rel(file)}:${firstLine}: unterminated \`\`\`ts block in a TSDoc comment`);
    return [];
  });
}

/** The ```ts blocks of a Markdown file (the README's examples must compile too). */
function extractMarkdownExamples(file: string): Example[] {
  const lines = (ts.sys.readFile(file) ?? '').split(/\r?\n/).map((content, i) => ({ content, line: i + 1, indent: 0 }));
  const found = fences(file, lines);
  if (found) return found;
  problems.push(`${rel(file)}: unterminated \`\`\`ts block`);
  return [];
}

function checkExamples(): number {
  const examples = [
    ...sourceFiles(join(root, 'src')).sort().flatMap(extractExamples),
    ...extractMarkdownExamples(join(root, 'README.md')),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-doc-examples-'));
  try {
    // ESM like a user's package; node_modules is linked so `rxjs` resolves
    // to the very copy src/ uses (one Observable type, not two).
    writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    mkdirSync(join(dir, 'examples'));
    for (const ex of examples) {
      ex.module = `examples/${ex.file.replace(/^src\//, '').replace(/[/.]/g, '_')}_L${ex.lines[0]?.line ?? 0}.ts`;
      writeFileSync(join(dir, ex.module), ex.code);
    }
    const base = projectOptions();
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: base.noUncheckedIndexedAccess ?? false,
        noImplicitOverride: base.noImplicitOverride ?? false,
        isolatedModules: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
        noEmit: true,
        // Examples run in browsers and workers too: no Node globals.
        types: [],
        paths: {
          tidemark: [join(root, 'src/index.ts')],
          'tidemark/testing': [join(root, 'src/testing/index.ts')],
          'tidemark/browser': [join(root, 'src/browser/index.ts')],
          'tidemark/worker': [join(root, 'src/worker/index.ts')],
          'tidemark/protocol': [join(root, 'src/protocol/index.ts')],
          'tidemark/server': [join(root, 'src/server/index.ts')],
          'tidemark/edge': [join(root, 'src/edge/index.ts')],
        },
      },
      include: ['examples'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
    const parsed = ts.getParsedCommandLineOfConfigFile(join(dir, 'tsconfig.json'), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    });
    if (!parsed) throw new Error('cannot read the generated tsconfig.json');
    const program = ts.createProgram(parsed.fileNames, parsed.options);
    const byModule = new Map(examples.map((ex) => [resolve(dir, ex.module), ex]));
    const failed = new Set<Example>();

    for (const [path, ex] of byModule) {
      const sf = program.getSourceFile(path);
      if (sf && !sf.statements.some(ts.isImportDeclaration)) {
        failed.add(ex);
        const where = `${ex.file}:${ex.lines[0]?.line ?? '?'}`;
        problems.push(`${where}: example has no import (examples must be complete modules)`);
      }
    }
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n    ');
      const ex = d.file && byModule.get(resolve(d.file.fileName));
      if (d.file && ex && d.start !== undefined) {
        failed.add(ex);
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        const at = ex.lines[line] ?? ex.lines[ex.lines.length - 1];
        const where = `${ex.file}:${at?.line ?? '?'}:${(at?.indent ?? 0) + character + 1}`;
        problems.push(`${where}: example does not compile: TS${d.code}: ${message}`);
      } else if (d.file && d.start !== undefined) {
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        problems.push(`${rel(d.file.fileName)}:${line + 1}:${character + 1}: TS${d.code}: ${message}`);
      } else {
        problems.push(`TS${d.code}: ${message}`);
      }
    }
    return examples.length - failed.size;
  } finally {
    if (process.argv.includes('--keep')) console.error(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const documented = checkExports();
const compiled = checkExamples();
if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(
    `doc examples: FAILED with ${problems.length} problem(s); ` +
      `${documented} exports documented, ${compiled} examples compile`,
  );
  process.exit(1);
}
console.log(`doc examples: ${documented} exports documented, ${compiled} examples compile`);
