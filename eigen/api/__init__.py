"""eigen as a Python library: the commands as functions and the results they return.

    eigen.search(data=..., **flags) -> SearchResult     eigen search
    eigen.duplicate(best, **flags) -> FinalResult       eigen duplicate
    eigen.train_teacher(data=..., **flags) -> TeacherResult   eigen train-teacher

(`eigen.load` turns any model eigen wrote into a module; `eigen/__init__.py` exports all of these.)
"""
from .functions import duplicate, search, train_teacher
from .results import Compute, FinalResult, Individual, SearchResult, TeacherResult

__all__ = ["Compute", "FinalResult", "Individual", "SearchResult", "TeacherResult", "duplicate", "search",
           "train_teacher"]
