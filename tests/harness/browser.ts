import { existsSync, mkdtempSync } from "node:fs";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";

/** Debian's chromium (scripts/setup installs it); UMLD_CHROMIUM names another. Nothing downloads a browser. */
export const CHROMIUM = process.env.UMLD_CHROMIUM ?? "/usr/bin/chromium";

/**
 * A headless chromium for the dashboard's tests, driven by playwright-core
 * with `executablePath`, and a folder for screenshots (printed, not committed).
 */
export class TestBrowser {
  private constructor(
    readonly browser: Browser,
    readonly shots: string,
  ) {}

  static async launch(): Promise<TestBrowser> {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: run scripts/setup (it installs Debian's chromium) or set UMLD_CHROMIUM`);
    // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    const shots = mkdtempSync("/tmp/umld-dashboard-shots-");
    process.stdout.write(`# dashboard screenshots: ${shots}\n`);
    return new TestBrowser(browser, shots);
  }

  /**
   * A new tab in a context of its own (its own sessionStorage) on `url`.
   * `problems` collects what the page reports as wrong: script errors,
   * console errors (CSP violations among them) and failed requests.
   */
  async page(url: string, viewport = { width: 1280, height: 860 }): Promise<{ page: Page; problems: string[] }> {
    const context = await this.browser.newContext({ viewport, reducedMotion: "reduce" });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && problems.push(`console: ${m.text()}`));
    page.on("response", (r) => r.status() >= 400 && problems.push(`http ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
    await page.goto(url);
    return { page, problems };
  }

  async shot(page: Page, name: string, fullPage = true): Promise<void> {
    await page.screenshot({ path: `${this.shots}/${name}.png`, fullPage, animations: "disabled" });
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** Signs in on the page's sign-in form, as a person would. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** The text of an xterm.js terminal's rows (no-break spaces as spaces). */
export async function terminalText(terminal: Locator): Promise<string> {
  return ((await terminal.locator(".xterm-rows").textContent()) ?? "").replace(/\u00a0/g, " ");
}

/** Waits until the terminal shows `text`. */
export async function waitForTerminal(terminal: Locator, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const shown = await terminalText(terminal);
    if (shown.includes(text)) return;
    if (Date.now() > deadline) throw new Error(`the terminal never showed ${JSON.stringify(text)}; it shows:\n${shown}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Controls on the page with no accessible name: inputs and selects without a
 * label or aria-label, buttons and links without text or aria-label
 * (xterm.js's hidden input excepted). Each is described for the message.
 */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll("input, select, textarea, button, a[href]")]
    .filter((el) => !el.closest(".xterm") && el.type !== "hidden")
    .filter((el) => {
      const aria = (el.getAttribute("aria-label") || "").trim();
      if (aria) return false;
      if (el.matches("input, select, textarea")) return !(el.labels && el.labels.length && [...el.labels].some((l) => l.textContent.trim()));
      return !el.textContent.trim();
    })
    .map((el) => el.outerHTML.slice(0, 120))`) as Promise<string[]>;
}
