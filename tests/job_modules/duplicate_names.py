from jobruntime import Job

name = "Basic Jobs"


class SameName(Job):
    class Meta:
        name = "Passing job"
