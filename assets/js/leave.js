// Hang up: the page's own leave (window.__lt.leave), answered through WebDriver's async callback.
var done = arguments[arguments.length - 1];
try {
  if (!window.__lt) {
    done('no __lt');
  } else {
    Promise.resolve(window.__lt.leave()).then(function () { done('ok'); }, function (e) { done(String(e)); });
  }
} catch (e) {
  done(String(e));
}
