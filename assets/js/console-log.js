// The browser console the page recorded (window.__ltConsole), one line per entry, for a failed
// participant's artifacts. The tool redacts tokens before writing it.
return (window.__ltConsole || []).map(function (e) {
  return new Date(e.ts).toISOString() + ' ' + e.level + ' ' + e.text;
}).join('\n');
