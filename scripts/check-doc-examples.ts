/**
 * `npm run check:docs`: proves that every export carries TSDoc with a
 * compiling example (STYLE.md, habit 5).
 *
 * 1. Every export of the public entry points must have a TSDoc summary;
 *    functions, classes, consts and enums also need an `@example` holding a
 *    ```ts fenced block. Exports are resolved to their declarations with the
 *    compiler API, so re-exports and renames are followed.
 * 2. Every ```ts block in a TSDoc comment under src/, and every ```ts and
 *    ```js block in README.md and docs/*.md, is written as its own module to
 *    a temporary directory and all of them are type-checked in one program
 *    (JavaScript with checkJs), with `tidemark` and its subpaths mapped to the
 *    sources. Snippets are checked as they are, never wrapped: one without an
 *    import or export would be a global script, so it fails. A Markdown block whose
 *    first line is `// name.ts` or `// name.js` (optionally followed by `:`
 *    and a description) is written under that name, in a directory of its
 *    page, so the page's blocks can import each other (`./pipeline.js`); the
 *    README's named blocks are there too, unless the page has its own.
 * 3. Every relative link and image in README.md and docs/*.md points at a
 *    file that exists and that the published package contains (package.json
 *    `files`), and a `#fragment` at a heading of that file: the links work in
 *    the repository and in `node_modules/tidemark` alike.
 *
 * Prints one summary line on success; on failure, every problem with its
 * source file and line, then exits 1. `--keep` leaves the temporary
 * directory in place (its tsconfig.json reproduces the check with `tsc -p`).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
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
  /** `js` or `ts`. */
  readonly lang: 'js' | 'ts';
  /** The file name a Markdown block gives itself in its first line (`// pipeline.js: …`). */
  readonly name?: string;
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

/**
 * The ```ts fenced blocks among `lines` (and ```js ones when `js`); `false`
 * when a block is left open. Other blocks (sh, html) are skipped whole.
 */
function fences(file: string, lines: readonly SourceLine[], js = false): Example[] | false {
  const examples: Example[] = [];
  let open: { lang: 'js' | 'ts' | undefined; lines: SourceLine[] } | undefined;
  for (const l of lines) {
    if (!open) {
      const fence = /^```(\w*)\s*$/.exec(l.content);
      const lang = fence?.[1];
      if (fence) open = { lang: /^(ts|typescript)$/.test(lang ?? '') ? 'ts' : js && /^(js|javascript)$/.test(lang ?? '') ? 'js' : undefined, lines: [] };
    } else if (/^```\s*$/.test(l.content)) {
      if (open.lang) {
        const code = `${open.lines.map((o) => o.content).join('\n')}\n`;
        const name = js ? /^\/\/ ([\w.-]+\.(?:ts|js))(?::|$)/.exec(open.lines[0]?.content ?? '')?.[1] : undefined;
        examples.push({
          file: rel(file),
          lines: open.lines.map(({ line, indent }) => ({ line, indent })),
          code,
          module: '',
          lang: open.lang,
          ...(name ? { name } : {}),
        });
      }
      open = undefined;
    } else {
      open.lines.push(l);
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

/** The ```ts and ```js blocks of a Markdown file (the README's and the docs' examples must compile too). */
function extractMarkdownExamples(file: string): Example[] {
  const lines = (ts.sys.readFile(file) ?? '').split(/\r?\n/).map((content, i) => ({ content, line: i + 1, indent: 0 }));
  const found = fences(file, lines, true);
  if (found) return found;
  problems.push(`${rel(file)}: unterminated \`\`\` block`);
  return [];
}

/** README.md and every page under docs/. */
function markdownPages(): string[] {
  const docs = join(root, 'docs');
  return [
    join(root, 'README.md'),
    ...readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => join(docs, f)),
  ];
}

/**
 * Where each example is written: TSDoc examples by source line; a Markdown
 * page's blocks in a directory of the page, named ones under their name,
 * with the README's named blocks beside them unless the page names its own.
 */
function placeExamples(examples: Example[]): { module: string; code: string }[] {
  const files: { module: string; code: string }[] = [];
  const readmeNamed = examples.filter((ex) => ex.file === 'README.md' && ex.name);
  const stem = (name: string) => name.slice(0, -extname(name).length);
  const pages = new Map<string, Example[]>();
  for (const ex of examples) {
    if (!ex.file.endsWith('.md')) {
      ex.module = `examples/${ex.file.replace(/^src\//, '').replace(/[/.]/g, '_')}_L${ex.lines[0]?.line ?? 0}.ts`;
      files.push(ex);
      continue;
    }
    pages.set(ex.file, [...(pages.get(ex.file) ?? []), ex]);
  }
  for (const [page, list] of pages) {
    const dir = `examples/${page.replace(/[/.]/g, '_')}`;
    const named = new Set<string>();
    for (const ex of list) {
      if (ex.name && named.has(ex.name)) problems.push(`${ex.file}:${ex.lines[0]?.line ?? '?'}: a second block named ${ex.name} on this page`);
      if (ex.name) named.add(ex.name);
      ex.module = `${dir}/${ex.name ?? `L${ex.lines[0]?.line ?? 0}.${ex.lang}`}`;
      files.push(ex);
    }
    if (page === 'README.md') continue;
    const stems = new Set([...named].map(stem));
    for (const ex of readmeNamed) if (!stems.has(stem(ex.name ?? ''))) files.push({ module: `${dir}/${ex.name}`, code: ex.code });
  }
  return files;
}

/** An import or an export: what makes a file an ES module rather than a global script. */
function isModuleStatement(st: ts.Statement): boolean {
  if (ts.isImportDeclaration(st) || ts.isExportDeclaration(st) || ts.isExportAssignment(st)) return true;
  return ts.canHaveModifiers(st) && (ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

function checkExamples(): number {
  const examples = [
    ...sourceFiles(join(root, 'src')).sort().flatMap(extractExamples),
    ...markdownPages().flatMap(extractMarkdownExamples),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-doc-examples-'));
  try {
    // ESM like a user's package; node_modules is linked so `rxjs` resolves
    // to the very copy src/ uses (one Observable type, not two).
    writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const { module, code } of placeExamples(examples)) {
      mkdirSync(dirname(join(dir, module)), { recursive: true });
      writeFileSync(join(dir, module), code);
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
        allowJs: true,
        checkJs: true,
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
      if (sf && !sf.statements.some(isModuleStatement)) {
        failed.add(ex);
        const where = `${ex.file}:${ex.lines[0]?.line ?? '?'}`;
        problems.push(`${where}: example has no import or export (examples must be complete modules)`);
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

// ---------------------------------------------------------------------------
// 3. Every relative link works in the repository and in the published package

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

function checkLinks(): number {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files?: string[] };
  // npm always packs these, whatever `files` says.
  const shipped = [...(pkg.files ?? []), 'package.json', 'README.md', 'LICENSE'];
  const inPackage = (path: string) => shipped.some((f) => path === f || path.startsWith(`${f}/`));
  let count = 0;
  for (const page of markdownPages()) {
    const text = readFileSync(page, 'utf8').replace(/^```[\s\S]*?^```/gm, ''); // links in code blocks are code
    for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] ?? '';
      if (/^[a-z]+:/i.test(target)) continue; // an absolute URL
      count++;
      const [path = '', fragment] = target.split('#');
      const file = path ? resolve(dirname(page), path) : page;
      const where = `${rel(page)}: link ${target}`;
      if (!existsSync(file)) problems.push(`${where}: no such file`);
      else if (!inPackage(rel(file))) problems.push(`${where}: ${rel(file)} is not in the package (add it to package.json "files")`);
      else if (fragment && file.endsWith('.md')) {
        const headings = readFileSync(file, 'utf8').match(/^#+ .*$/gm) ?? [];
        if (!headings.some((h) => slug(h.replace(/^#+ /, '')) === fragment)) problems.push(`${where}: ${basename(file)} has no heading #${fragment}`);
      }
    }
  }
  return count;
}

const documented = checkExports();
const compiled = checkExamples();
const links = checkLinks();
if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(
    `doc examples: FAILED with ${problems.length} problem(s); ` +
      `${documented} exports documented, ${compiled} examples compile, ${links} links checked`,
  );
  process.exit(1);
}
console.log(`doc examples: ${documented} exports documented, ${compiled} examples compile, ${links} links work in the package`);
