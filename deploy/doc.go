// Package deploy holds what runs tapdesk outside a developer's machine: the
// container image (Dockerfile), the systemd unit and its settings file, and
// example reverse-proxy configurations. Its tests check the release build
// (scripts/build) is static, stripped and stamped, and that these files
// name settings, headers and addresses the binary actually has.
package deploy
