from client.cli import cli

cli()
