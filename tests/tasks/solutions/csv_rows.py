from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    text = args["text"]
    rows = []
    row = []
    field = []
    quoted = False
    ended = True  # whether the last character read ended a record
    i = 0
    while i < len(text):
        c = text[i]
        ended = False
        if quoted:
            if c != '"':
                field.append(c)
            elif text[i + 1 : i + 2] == '"':
                field.append('"')
                i += 1
            else:
                quoted = False
        elif c == '"':
            quoted = True
        elif c == ",":
            row.append("".join(field))
            field = []
        elif c == "\n" or text[i : i + 2] == "\r\n":
            if c == "\r":
                i += 1
            row.append("".join(field))
            rows.append(row)
            row, field = [], []
            ended = True
        else:
            field.append(c)
        i += 1
    if not ended:
        row.append("".join(field))
        rows.append(row)
    return rows
