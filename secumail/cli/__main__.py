from secumail.cli import run

run()
