"""Every container image deploy/ and deploy/loadgen/ may use, with where its tag was verified
upstream. docs/deploy.md repeats the table; tests fail on an image that is not here."""

JITSI = (
    "jitsi/docker-jitsi-meet: git tag stable-11146-2 (commit 738058b4, 2026-08-17), the newest tag "
    "of the upstream repository (snapshot 2026-08-20); its docker-compose.yml defaults to "
    "${JITSI_IMAGE_REPO:-ghcr.io/jitsi}/<component>:${JITSI_IMAGE_VERSION:-stable-11146-2}"
)
SELENIUM = (
    "SeleniumHQ/docker-selenium: CHANGELOG/4.48.0/chrome_140.md (commit 6bf21d0b) records the "
    "release 'Selenium Grid version -> 4.48.0-20260909'; the image READMEs' tag lists show "
    "<image>:4.48.0-20260909 for the 4.48.0 release of 20260909"
)
ATTESTED = {
    "ghcr.io/jitsi/web:stable-11146-2": JITSI,
    "ghcr.io/jitsi/prosody:stable-11146-2": JITSI,
    "ghcr.io/jitsi/jicofo:stable-11146-2": JITSI,
    "ghcr.io/jitsi/jvb:stable-11146-2": JITSI,
    "haproxy:3.2.21": (
        "docker-library/haproxy: versions.json maps 3.2 to 3.2.21 and 3.2/Dockerfile sets "
        "HAPROXY_VERSION 3.2.21 (commit 5f3b2c8 'Update 3.2 to 3.2.21', 2026-07-03; repository "
        "snapshot ec437dd, 2026-07-22)"
    ),
    "selenium/hub:4.48.0-20260909": SELENIUM,
    "selenium/node-chromium:4.48.0-20260909": SELENIUM,
}
FLOATING = {"latest", "stable", "unstable", "nightly", "dev", "beta", ""}
