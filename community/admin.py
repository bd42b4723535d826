from django.contrib import admin

from community.models import Contribution, ModelCard, Release, ReviewEvent, TestSet, TrainingRun


class ReviewEventInline(admin.TabularInline):
    model = ReviewEvent
    extra = 0
    can_delete = False
    readonly_fields = ["actor", "decision", "from_status", "to_status", "comment", "created_at"]


@admin.register(Contribution)
class ContributionAdmin(admin.ModelAdmin):
    list_display = ["id", "image_name", "contributor", "status", "split", "license", "checks_passed", "current_ap",
                    "created_at"]
    list_filter = ["status", "split", "license", "checks_passed"]
    search_fields = ["image_name", "contributor__username"]
    readonly_fields = ["image_file", "masks_file", "prediction_file", "checks", "annotation_version"]
    inlines = [ReviewEventInline]


@admin.register(TestSet)
class TestSetAdmin(admin.ModelAdmin):
    list_display = ["version", "created_by", "created_at"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "stage", "progress", "base", "candidate", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["history", "metrics", "error", "log"]


@admin.register(ModelCard)
class ModelCardAdmin(admin.ModelAdmin):
    list_display = ["model_version", "training_run", "test_set", "imported_from", "created_at"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["model_version", "action", "previous", "actor", "created_at"]
