/*
 * Unit tests of mao_git and mao_fs: cloning a local repository, refusing a
 * non-empty folder and a refused URL, leaving nothing behind on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_error.h"
#include "mao_fs.h"
#include "mao_git.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir[64];

/* Makes <s_dir>/src, a repository with one commit holding README. */
static int s_setup(void **state)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/mao-test-git-XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    git_libgit2_init();
    char src[128], file[160];
    snprintf(src, sizeof src, "%s/src", s_dir);
    git_repository *repo = NULL;
    assert_int_equal(git_repository_init(&repo, src, 0), 0);
    snprintf(file, sizeof file, "%s/README", src);
    FILE *f = fopen(file, "w");
    fputs("dataset\n", f);
    fclose(f);
    git_index *index = NULL;
    git_oid tree_id, commit_id;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    assert_int_equal(git_repository_index(&index, repo), 0);
    assert_int_equal(git_index_add_bypath(index, "README"), 0);
    assert_int_equal(git_index_write(index), 0);
    assert_int_equal(git_index_write_tree(&tree_id, index), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    assert_int_equal(git_signature_now(&sig, "test", "test@example.org"), 0);
    assert_int_equal(git_commit_create_v(&commit_id, repo, "HEAD", sig, sig, NULL, "first", tree, 0),
                     0);
    git_signature_free(sig);
    git_tree_free(tree);
    git_index_free(index);
    git_repository_free(repo);
    return 0;
}

static int s_teardown(void **state)
{
    mao_fs_rmtree(s_dir);
    git_libgit2_shutdown();
    return 0;
}

static void test_git__clone_local_repository(void **state)
{
    char src[128], dst[128], readme[160];
    snprintf(src, sizeof src, "%s/src", s_dir);
    snprintf(dst, sizeof dst, "%s/dst", s_dir);
    mao_git_opts_t opts = {.allow_local = 1};
    assert_int_equal(mao_git_clone(src, dst, &opts), 0);
    snprintf(readme, sizeof readme, "%s/README", dst);
    assert_int_equal(access(readme, R_OK), 0);
    assert_true(mao_git_is_repo(dst));
    assert_false(mao_git_is_repo(s_dir));
}

static void test_git__refuses_local_when_not_allowed(void **state)
{
    char src[128], dst[128];
    snprintf(src, sizeof src, "%s/src", s_dir);
    snprintf(dst, sizeof dst, "%s/dst", s_dir);
    mao_git_opts_t opts = {.allow_local = 0};
    assert_int_equal(mao_git_clone(src, dst, &opts), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "local path"));
    assert_int_equal(mao_fs_dir_empty(dst), MAO_ENOTFOUND);
}

static void test_git__refuses_non_empty_folder(void **state)
{
    char src[128], dst[128], file[160];
    snprintf(src, sizeof src, "%s/src", s_dir);
    snprintf(dst, sizeof dst, "%s/dst", s_dir);
    assert_int_equal(mao_fs_mkdirs(dst, 0755), 0);
    snprintf(file, sizeof file, "%s/keep.txt", dst);
    FILE *f = fopen(file, "w");
    fputs("mine\n", f);
    fclose(f);
    mao_git_opts_t opts = {.allow_local = 1};
    assert_int_equal(mao_git_clone(src, dst, &opts), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "not empty"));
    assert_int_equal(access(file, R_OK), 0); /* nothing of the user's is lost */
}

static void test_git__failed_clone_leaves_nothing(void **state)
{
    char dst[128], empty[128];
    snprintf(dst, sizeof dst, "%s/dst", s_dir);
    mao_git_opts_t opts = {.allow_local = 1};
    assert_int_equal(mao_git_clone("/nonexistent/repo.git", dst, &opts), MAO_EFAIL);
    assert_non_null(strstr(mao_error_last(), "cannot clone /nonexistent/repo.git"));
    assert_int_equal(mao_fs_dir_empty(dst), MAO_ENOTFOUND);

    /* An existing empty folder stays, empty. */
    snprintf(empty, sizeof empty, "%s/empty", s_dir);
    assert_int_equal(mao_fs_mkdirs(empty, 0755), 0);
    assert_int_equal(mao_git_clone("http://127.0.0.1:1/x.git", empty, &opts), MAO_EFAIL);
    assert_int_equal(mao_fs_dir_empty(empty), 1);
}

static void test_git__fs_helpers(void **state)
{
    char deep[160], file[200];
    snprintf(deep, sizeof deep, "%s/a/b/c", s_dir);
    assert_int_equal(mao_fs_mkdirs(deep, 0755), 0);
    assert_int_equal(mao_fs_mkdirs(deep, 0755), 0);
    assert_int_equal(mao_fs_dir_empty(deep), 1);
    snprintf(file, sizeof file, "%s/f.json", deep);
    assert_int_equal(mao_fs_write_atomic(file, "{\"a\":1}", 7, 0644), 0);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(mao_fs_read(file, 100, &text, &len), 0);
    assert_string_equal(text, "{\"a\":1}");
    free(text);
    assert_int_equal(mao_fs_read(file, 3, &text, &len), MAO_EINVAL);
    assert_int_equal(mao_fs_dir_empty(deep), 0);
    snprintf(deep, sizeof deep, "%s/a", s_dir);
    assert_int_equal(mao_fs_rmtree(deep), 0);
    assert_int_equal(mao_fs_dir_empty(deep), MAO_ENOTFOUND);
    assert_int_equal(mao_fs_rmtree(deep), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_git__clone_local_repository, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_git__refuses_local_when_not_allowed, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_git__refuses_non_empty_folder, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_git__failed_clone_leaves_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_git__fs_helpers, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
