"""Which exec commands print a secret to the session's stdout (their whole output is then masked)."""

from __future__ import annotations

import pytest

from bastion.masking.commands import secret_output_command

PRINTS_A_SECRET = [
    "gh auth token",
    "gh auth token --hostname github.example.com",
    "aws --profile prod ecr get-login-password --region eu-west-1",
    "aws secretsmanager get-secret-value --secret-id prod/db --query SecretString --output text",
    "aws ssm get-parameter --name /prod/db/password --with-decryption --query Parameter.Value",
    "aws configure get aws_secret_access_key",
    "gcloud auth print-access-token",
    "gcloud secrets versions access latest --secret=db-password",
    "az account get-access-token --query accessToken -o tsv",
    "az keyvault secret show --vault-name kv -n db --query value -o tsv",
    "az storage account keys list -g rg -n acct",
    "vault kv get -field=password secret/db",
    "vault read -field=token auth/token/lookup-self",
    "vault print token",
    "kubectl get secret db -o jsonpath='{.data.password}' | base64 -d",
    "kubectl -n prod get secrets/db -o go-template='{{.data.token}}'",
    "kubectl create token deployer",
    "op read op://prod/db/password",
    "pass show prod/db",
    "pass prod/db",
    "bw get password github",
    "security find-generic-password -s deploy -w",
    "secret-tool lookup service deploy",
    "doppler secrets get DB_PASSWORD --plain",
    "heroku config:get DATABASE_URL -a app",
    "sops -d secrets.enc.yaml",
    "ansible-vault view group_vars/all/vault.yml",
    "openssl rand -base64 32",
    "pwgen -s 24 1",
    "cat /run/secrets/db_password",
    "cat ~/.vault-token",
    # a secret-named variable or JSON / YAML key, printed bare
    "printenv GITHUB_TOKEN",
    "echo $DB_PASSWORD",
    "echo \"token: ${API_KEY}\"",
    "printf '%s\\n' \"$NPM_TOKEN\"",
    "jq -r .password creds.json",
    "curl -s https://auth.example.com/token | jq -r '.access_token'",
    "jq -r '.[\"api-key\"]' config.json",
    "yq .db.password values.yaml",
    # wrappers, quoting and filters do not hide it
    "sudo -u deploy env HOME=/srv gh auth token",
    "bash -c 'gh auth token'",
    "\"g\"h auth token",
    "gh auth token | tee /tmp/token",
    "echo \"$(gh auth token)\"",
    "gh auth token | python3 -c 'import sys; print(sys.stdin.read())'",  # not known to consume it
    "ls; vault kv get secret/db",
]

NO_SECRET_ON_STDOUT = [
    "ls -la",
    "gh auth status",
    "aws s3 ls",
    "aws ssm get-parameter --name /prod/region",
    "kubectl get secrets",
    "kubectl get secret db -o yaml",  # its data values are masked by `k8s-secret-data`
    "pass ls",
    "pass insert prod/db",
    "cat /etc/passwd",
    "vault status",
    "openssl x509 -in cert.pem -noout -text",
    # the secret goes to its consumer, not to the session
    "aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin 1.dkr.ecr",
    "gh auth token | helm registry login ghcr.io -u x --password-stdin",
    "docker login -u x -p \"$(gh auth token)\" ghcr.io",
    "curl -H \"Authorization: Bearer $(gcloud auth print-access-token)\" https://example.com/v1",
    "TOKEN=$(gh auth token); curl -H \"Authorization: token $TOKEN\" https://api.github.com/user",
    "gh auth token > /tmp/token",
    "",
    "printenv", "printenv HOME", "echo $PWD", "echo $HOME $PATH", "jq .items list.json", "jq -r .token_type x.json",
    "echo $GITHUB_TOKEN | gh auth login --with-token",
]


@pytest.mark.parametrize("command", PRINTS_A_SECRET)
def test_a_command_that_prints_a_secret_is_recognised(command: str) -> None:
    assert secret_output_command(command) is not None


@pytest.mark.parametrize("command", NO_SECRET_ON_STDOUT)
def test_a_command_whose_stdout_holds_no_secret_is_not(command: str) -> None:
    assert secret_output_command(command) is None


def test_the_match_names_the_command_for_the_audit_trail() -> None:
    assert secret_output_command("sudo gh auth token") == "gh auth token"
    assert secret_output_command("aws ecr get-login-password") == "aws ecr get-login-password"
