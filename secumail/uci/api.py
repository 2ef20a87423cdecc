"""placeholder"""
class Uci:
    pass
