"""The registry's one error: an input refused, naming where (field and row) and why."""


class InputRefused(ValueError):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
