package config

import (
	"fmt"
	"os"
	"strings"
)

// Environment variables that hold NATS secrets when no file is configured.
const (
	EnvNATSPassword = "VIGIL_NATS_PASSWORD"
	EnvNATSToken    = "VIGIL_NATS_TOKEN"
)

// ReadSecrets returns the NATS password and token. Each comes from its file
// when one is configured (nats.password_file, nats.token_file), else from the
// environment (VIGIL_NATS_PASSWORD, VIGIL_NATS_TOKEN); either may be "". A
// trailing newline in a file is dropped. The error names the file, never its
// content.
func (c *Config) ReadSecrets() (password, token string, err error) {
	password, err = readSecret("nats.password_file", c.NATS.PasswordFile, EnvNATSPassword)
	if err != nil {
		return "", "", err
	}
	token, err = readSecret("nats.token_file", c.NATS.TokenFile, EnvNATSToken)
	if err != nil {
		return "", "", err
	}
	return password, token, nil
}

func readSecret(field, file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", field, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s %q is empty; put the secret in it, or unset %s to use $%s", field, file, field, env)
	}
	return s, nil
}
