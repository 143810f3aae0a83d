# Splits the text into lines first, so a newline inside quotes ends the row.
from typing import Any


def parse_line(line: str) -> list[str]:
    fields = []
    field = []
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if quoted:
            if c == '"':
                if i + 1 < len(line) and line[i + 1] == '"':
                    field.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                field.append(c)
        elif c == '"':
            quoted = True
        elif c == ",":
            fields.append("".join(field))
            field = []
        else:
            field.append(c)
        i += 1
    fields.append("".join(field))
    return fields


def main(args: dict[str, Any], host: Any) -> Any:
    text = args["text"].replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    if args["text"] == "":
        return []
    return [parse_line(line) for line in text.split("\n")]
