// Reads an HTML email on stdin; prints doiuse-email's verdict (caniemail data) as JSON.
// Usage: node lint.mjs 'gmail.*' 'outlook.windows' ... < email.html
import { readFileSync } from "node:fs";
import { doIUseEmail } from "@jsx-email/doiuse-email";

const html = readFileSync(0, "utf8");
const result = doIUseEmail(html, { emailClients: process.argv.slice(2) });
process.stdout.write(JSON.stringify({ errors: [], warnings: [], notes: [], ...result }));
